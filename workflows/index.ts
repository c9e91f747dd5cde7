/** The workflows the control worker registers. */
export { trainingRun } from './training-run';
export { evaluationRun } from './evaluation-run';
