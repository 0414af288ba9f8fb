// The block of ports the test run's own servers live in: CDRFLOW_TEST_PORT_BASE, 29000 when unset. The test stack
// takes its first ports; tests that start stacks or receivers of their own take fixed offsets above it (receiver
// faults +400, the outage test +500, start-settings +700), so two runs on two bases never meet.
const DEFAULT_TEST_PORT_BASE = 29000;

export function testPortBase(): number {
  const raw = process.env['CDRFLOW_TEST_PORT_BASE'];
  const base = raw ? Number(raw) : DEFAULT_TEST_PORT_BASE;
  if (!Number.isInteger(base) || base < 1024 || base > 65000) throw new Error(`CDRFLOW_TEST_PORT_BASE must be an integer 1024..65000, got "${raw}"`);
  return base;
}
