/**
 * Test-only fault points. With FAULT_POINT=<name> in the environment, the process
 * announces on stderr that it reached <name> and then stops making progress, so a
 * test can SIGKILL it at exactly that moment. Without it, a fault point costs one
 * string comparison.
 */
const armed = process.env.FAULT_POINT ?? '';

export function faultPoint(name: string): Promise<void> {
  if (armed !== name) return Promise.resolve();
  process.stderr.write(`FAULT_POINT_REACHED ${name} pid=${process.pid}\n`);
  return new Promise<void>(() => {
    // never resolves: the test kills the process here
  });
}
