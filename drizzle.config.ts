import { defineConfig } from 'drizzle-kit';

/** `npm run db:generate` writes a new migration into db/migrations after a schema change (commit it). */
export default defineConfig({
  dialect: 'postgresql',
  schema: './db/schema.ts',
  out: './db/migrations',
});
