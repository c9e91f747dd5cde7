/**
 * pass@k from n ≥ k sampled attempts of which c succeeded, the unbiased estimator of Chen et al. 2021
 * ("Evaluating Large Language Models Trained on Code", eq. 1):
 *
 *   pass@k = 1 − C(n−c, k) / C(n, k) = 1 − Π_{i=n−c+1}^{n} (1 − k/i)
 *
 * The product form never forms a binomial, so it stays finite for any n. With n = k it is 1 when any attempt
 * succeeded; with k = 1 it is c/n.
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`pass@k needs 1 <= k <= n; got k ${k}, n ${n}`);
  if (!Number.isInteger(c) || c < 0 || c > n) throw new Error(`${c} successes out of ${n} attempts`);
  if (n - c < k) return 1; // every k-subset holds a success
  let allFail = 1;
  for (let i = n - c + 1; i <= n; i++) allFail *= 1 - k / i;
  return 1 - allFail;
}
