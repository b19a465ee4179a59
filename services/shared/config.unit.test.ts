import { afterEach, expect, it } from 'vitest';
import { envInteger } from './config.ts';

afterEach(() => {
  delete process.env.TEST_SETTING;
});

it('reads a whole number, or the fallback when the variable is unset or empty', () => {
  expect(envInteger('TEST_SETTING', 7)).toBe(7);
  process.env.TEST_SETTING = '';
  expect(envInteger('TEST_SETTING', undefined)).toBeUndefined();
  process.env.TEST_SETTING = '12000';
  expect(envInteger('TEST_SETTING', 7)).toBe(12_000);
});

it('refuses what is not a whole number in range, naming the variable', () => {
  for (const bad of ['ten', '1.5', '0', '-3', '1e400']) {
    process.env.TEST_SETTING = bad;
    expect(() => envInteger('TEST_SETTING', 7), bad).toThrow(`TEST_SETTING must be a whole number of at least 1, not "${bad}"`);
  }
  process.env.TEST_SETTING = '0';
  expect(envInteger('TEST_SETTING', 7, 0)).toBe(0);
});
