# The app image: one image for every process (edge, workers, reconciler, payment sandbox, demo seed), chosen by command.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json schema.sql ./
COPY common common
COPY edge edge
COPY workers workers
COPY reconciler reconciler
COPY sandbox sandbox
COPY infra/demo-seed.ts infra/demo-seed.ts
COPY lua lua
COPY migrations migrations
COPY ops ops
COPY storefront storefront
RUN node ops/build.mjs && npx vite build storefront --logLevel warn && npx tsc -p tsconfig.json

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist dist
COPY schema.sql ./
COPY lua lua
COPY migrations migrations
EXPOSE 8080
CMD ["node", "dist/edge/main.js"]
