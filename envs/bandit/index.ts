export { BanditEnvironment, BANDIT_SPLITS, type BanditOptions, type BanditTask } from './bandit-env';
export { SoftmaxPolicy, type PolicySample } from './softmax-policy';
export { groupAdvantages, type BanditAlgorithm } from './advantages';
