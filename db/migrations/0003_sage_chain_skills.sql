ALTER TABLE "trajectories" ADD COLUMN "chain_id" text;--> statement-breakpoint
ALTER TABLE "trajectories" ADD COLUMN "chain_position" integer;--> statement-breakpoint
ALTER TABLE "trajectories" ADD COLUMN "skills_written" text[];--> statement-breakpoint
ALTER TABLE "trajectories" ADD COLUMN "skills_used" text[];