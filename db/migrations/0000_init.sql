CREATE TABLE "checkpoints" (
	"run_id" text NOT NULL,
	"version" integer NOT NULL,
	"step" integer NOT NULL,
	"artifact_key" text NOT NULL,
	"sha256" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "checkpoints_run_id_version_pk" PRIMARY KEY("run_id","version")
);
--> statement-breakpoint
CREATE TABLE "evaluations" (
	"run_id" text NOT NULL,
	"step" integer NOT NULL,
	"split" text NOT NULL,
	"mode" text NOT NULL,
	"policy_version" integer NOT NULL,
	"tasks" integer NOT NULL,
	"success_rate" double precision NOT NULL,
	"mean_reward" double precision NOT NULL,
	"metrics" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "evaluations_run_id_step_split_mode_pk" PRIMARY KEY("run_id","step","split","mode")
);
--> statement-breakpoint
CREATE TABLE "runs" (
	"run_id" text PRIMARY KEY NOT NULL,
	"workflow_id" text NOT NULL,
	"env" text NOT NULL,
	"algorithm" text NOT NULL,
	"status" text NOT NULL,
	"steps_completed" integer DEFAULT 0 NOT NULL,
	"config" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "steps" (
	"run_id" text NOT NULL,
	"step" integer NOT NULL,
	"policy_version" integer NOT NULL,
	"mean_reward" double precision NOT NULL,
	"success_rate" double precision NOT NULL,
	"entropy" double precision NOT NULL,
	"kl" double precision NOT NULL,
	"learning_rate" double precision NOT NULL,
	"trajectories" integer NOT NULL,
	"tokens" integer NOT NULL,
	"wall_ms" integer NOT NULL,
	"metrics" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "steps_run_id_step_pk" PRIMARY KEY("run_id","step")
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"env" text NOT NULL,
	"task_id" text NOT NULL,
	"split" text NOT NULL,
	"template" text NOT NULL,
	"level" integer NOT NULL,
	"scenario" text NOT NULL,
	CONSTRAINT "tasks_env_task_id_pk" PRIMARY KEY("env","task_id")
);
--> statement-breakpoint
CREATE TABLE "trajectories" (
	"run_id" text NOT NULL,
	"step" integer NOT NULL,
	"group" integer NOT NULL,
	"sample" integer NOT NULL,
	"task_id" text NOT NULL,
	"policy_version" integer NOT NULL,
	"reward" double precision NOT NULL,
	"success" boolean NOT NULL,
	"turns" integer NOT NULL,
	"tokens" integer NOT NULL,
	"finish_reason" text NOT NULL,
	"env_errors" integer NOT NULL,
	"artifact_key" text NOT NULL,
	"artifact_sha256" text NOT NULL,
	CONSTRAINT "trajectories_run_id_step_group_sample_pk" PRIMARY KEY("run_id","step","group","sample")
);
