// Run first by `npm start`, `npm test`, `npm run graph` and `npm run bench`: the repo runs its TypeScript
// sources under Node's type stripping, which needs Node 22.18 or newer without a flag. An older Node would
// die on the first .ts file with ERR_UNKNOWN_FILE_EXTENSION; this says which Node is needed and found.
// CommonJS and plain old syntax on purpose: it must run on any Node.
'use strict';
var fs = require('fs');
var path = require('path');

var wanted = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).engines.node; // ">=22.18"
var floor = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(wanted);
if (!floor) {
  console.error('scripts/check-node.cjs: package.json engines.node must read ">=MAJOR.MINOR", not "' + wanted + '"');
  process.exit(1);
}
var need = [Number(floor[1]), Number(floor[2]), Number(floor[3] || 0)];
var have = process.versions.node.split('.').map(Number);
var older = have[0] !== need[0] ? have[0] < need[0] : have[1] !== need[1] ? have[1] < need[1] : have[2] < need[2];
if (older) {
  console.error(
    'spanflow needs Node.js ' + need.join('.') + ' or newer (it runs its TypeScript sources directly); this is Node.js ' +
      process.versions.node + ' (' + process.execPath + '): install a newer Node (nodejs.org, nvm, or `npm install --prefix ~/.cache/node24 node@24`) and put it first on PATH',
  );
  process.exit(1);
}
