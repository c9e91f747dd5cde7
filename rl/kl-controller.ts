/**
 * The KL coefficient's controller (fixed or adaptive β). Plain numbers only, no tensors: the training workflow
 * imports it to adapt the coefficient it carries between steps.
 */

/** The β controller's state: plain JSON, so a workflow can carry it between steps. */
export type KlController =
  | { kind: 'fixed'; coef: number }
  | { kind: 'adaptive'; coef: number; targetKl: number; horizon: number };

/**
 * Next β. Fixed: unchanged. Adaptive (Ziegler et al. 2019):
 *   β ← β · (1 + clip(KL/target − 1, −0.2, 0.2) · nSteps / horizon)
 * where KL is the step's `meanKl` and nSteps the number of samples it covered (verl passes the batch size).
 */
export function updateKlController(state: KlController, currentKl: number, nSteps: number): KlController {
  if (state.kind === 'fixed') return state;
  const error = Math.min(Math.max(currentKl / state.targetKl - 1, -0.2), 0.2);
  return { ...state, coef: state.coef * (1 + (error * nSteps) / state.horizon) };
}
