/**
 * Which implementation of the step activities serves which environment. The workflow never changes when an
 * environment is added: implement `EnvStepActivities` under activities/<env>/ and add one line below.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { EnvName } from '../config/run-config';
import { createAgentActivities } from './agent/agent-activities';
import { createBanditActivities } from './bandit/bandit-activities';
import type { EnvStepActivities } from './contract';
import type { ActivityDeps } from './deps';

type Factory = (deps: ActivityDeps) => EnvStepActivities;

const FACTORIES: Partial<Record<EnvName, Factory>> = {
  bandit: createBanditActivities,
  apps: createAgentActivities,
  deepsearch: createAgentActivities,
};

/** Builds each environment's implementation once per worker, on first use. */
export class EnvActivityRegistry {
  private readonly built = new Map<EnvName, EnvStepActivities>();

  constructor(private readonly deps: ActivityDeps) {}

  for(env: EnvName): EnvStepActivities {
    let impl = this.built.get(env);
    if (!impl) {
      const factory = FACTORIES[env];
      if (!factory) throw ApplicationFailure.nonRetryable(`environment ${JSON.stringify(env)} has no step activities yet`, 'NotImplemented');
      this.built.set(env, (impl = factory(this.deps)));
    }
    return impl;
  }
}
