import { loadRunConfig, startOptions } from '../../../cli/start';

test("a run's static summary and details say what it trains and where its rows are", () => {
  const { config } = loadRunConfig('examples/apps-small.json');
  const options = startOptions(config);
  expect(options.staticSummary).toBe('apps-small · apps · grpo · 3 steps of 8×4 episodes');
  expect(options.staticDetails).toContain('**policy** a 1-layer, width-64 transformer after 40 SFT steps');
  expect(options.staticDetails).toContain("run_id = 'apps-small'");
  expect(startOptions(loadRunConfig('examples/bandit.json').config).staticDetails).toContain('**policy** a uniform softmax policy');
});
