# One image for every process of the system; docker-compose.yml picks the process with `command`.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY prisma ./prisma
COPY scripts/prepare.ts ./scripts/prepare.ts
# Dev dependencies too: tsx runs the TypeScript sources, and prisma generates the client at install.
RUN npm ci --ignore-scripts && npx tsx scripts/prepare.ts
COPY . .
ENV NODE_ENV=production LOG_LEVEL=info
EXPOSE 4000
CMD ["npm", "run", "gateway"]
