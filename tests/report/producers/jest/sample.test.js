// Producer fixture: 2 passed, 1 failed, 1 skipped.
describe('math', () => {
  test('adds', () => { expect(1 + 1).toBe(2); });
  test('multiplies', () => { expect(2 * 3).toBe(6); });
  test('fails on purpose', () => { expect('left').toBe('right'); });
  test.skip('skipped one', () => {});
});
