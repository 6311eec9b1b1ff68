# The demo service of compose/docker-compose.yml: this repository's engine,
# running compose/demo/main.ts (the showcase and the ETL example, in a loop);
# the render-worker containers run `spanflow worker` from the same image.
# Built from the repository root: `docker compose -f compose/docker-compose.yml build demo`.
FROM node:24.4.1-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# The engine's optional peers (OpenTelemetry SDK, kysely, pg, piscina, the console's) are the repo's
# devDependencies; the sources run as they are, so nothing is built (--ignore-scripts skips `prepare`).
RUN npm ci --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY sdk/ sdk/
COPY exporters/ exporters/
COPY worker-threads/ worker-threads/
COPY distributed/ distributed/
COPY cli/ cli/
COPY examples/ examples/
COPY compose/demo/ compose/demo/
ENV NODE_ENV=production
USER node
CMD ["node", "compose/demo/main.ts"]
