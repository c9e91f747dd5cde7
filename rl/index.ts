/** Public API of rl/: pure RL mathematics (advantages, losses, batch shaping, diagnostics). No I/O. */
export * from './masks';
export * from './gae';
export * from './group-advantages';
export * from './reinforce-pp';
export * from './salt';
export * from './aggregation';
export * from './policy-loss';
export * from './off-policy';
export * from './value-loss';
export * from './kl';
export * from './entropy';
export * from './dynamic-sampling';
export * from './curriculum';
export * from './diagnostics';
export * from './sage';
