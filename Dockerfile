# One image for every process of the system; docker-compose.yml picks the process with `command`.
FROM node:24-bookworm-slim
WORKDIR /app
# Dev dependencies too: tsx runs the TypeScript sources, and prisma generates the client.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY . .
RUN npx tsx scripts/prepare.ts
ENV NODE_ENV=production LOG_LEVEL=info
EXPOSE 4000
CMD ["npm", "run", "gateway"]
