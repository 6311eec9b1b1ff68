// `npm run grafana`: writes grafana/dashboards/*.json from the dashboards'
// code, and removes JSON files there that no dashboard generates any more.

import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DASHBOARDS_DIR, dashboardJson, dashboards } from './index.ts';

const dir = fileURLToPath(DASHBOARDS_DIR);
const generated = dashboards();
for (const { file, dashboard } of generated) {
  writeFileSync(new URL(file, DASHBOARDS_DIR), dashboardJson(dashboard));
  console.log(`wrote grafana/dashboards/${file} (${dashboard.title}, ${dashboard.panels?.length ?? 0} panels and rows)`);
}
for (const file of readdirSync(dir)) {
  if (file.endsWith('.json') && !generated.some((g) => g.file === file)) {
    rmSync(new URL(file, DASHBOARDS_DIR));
    console.log(`removed grafana/dashboards/${file} (no dashboard generates it)`);
  }
}
