import { passAtK } from '../../../rl/pass-at-k';

describe('passAtK: 1 − C(n−c, k)/C(n, k) (Chen et al. 2021)', () => {
  it.each([
    // [n, c, k, value worked out by hand]
    [4, 1, 2, 1 - 3 / 6], // C(3,2)/C(4,2)
    [5, 2, 3, 1 - 1 / 10], // C(3,3)/C(5,3)
    [8, 3, 1, 3 / 8], // pass@1 is the success rate
    [4, 3, 2, 1], // fewer than k failures: every k-subset holds a success
    [2, 1, 2, 1], // n = k: "any of the k"
    [6, 0, 3, 0],
    [200, 1, 50, 50 / 200], // C(199,50)/C(200,50) = 150/200
  ])('n %i, c %i, k %i -> %f', (n, c, k, expected) => {
    expect(passAtK(n, c, k)).toBeCloseTo(expected, 12);
  });

  it('stays finite where the binomials overflow a double', () => {
    const value = passAtK(2000, 3, 1000); // C(2000,1000) ~ 1e600; 1 − (1000·999·998)/(2000·1999·1998)
    expect(value).toBeCloseTo(1 - (1000 * 999 * 998) / (2000 * 1999 * 1998), 12);
  });

  it('refuses k > n and a count outside [0, n]', () => {
    expect(() => passAtK(2, 1, 3)).toThrow(/k/);
    expect(() => passAtK(2, 3, 1)).toThrow(/successes/);
  });
});
