ALTER TABLE "evaluations" ADD COLUMN IF NOT EXISTS "episodes" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "evaluations" ADD COLUMN IF NOT EXISTS "artifact_key" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "evaluations" ADD COLUMN IF NOT EXISTS "artifact_sha256" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN IF NOT EXISTS "execution_id" text;--> statement-breakpoint
ALTER TABLE "steps" ADD COLUMN IF NOT EXISTS "state" jsonb;