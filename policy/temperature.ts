/**
 * The temperature log π is taken at for RL: the one the rollouts sampled at (π_T = softmax(logits / T)), so
 * the sampler's log-probs and the loss describe the distribution that produced the data, as verl does; greedy
 * (0) rollouts have no tempered distribution, so they use the model's own. Free of tfjs and onnxruntime so the
 * sampler and the trainer share it.
 */
export const lossTemperature = (samplingTemperature: number): number => (samplingTemperature > 0 ? samplingTemperature : 1);
