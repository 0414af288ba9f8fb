// Loopback stand-ins that answer without end, for tests of what a reader does with such an answer.
import type { ServerResponse } from 'node:http';

/**
 * Writes `chunk` to `res` until `cap` bytes or the client hangs up, as fast as the client reads; resolves with what was
 * sent and whether the answer ended whole. A stand-in that never ends for the reader (`cap` only lets a reader that
 * reads it all end too).
 */
export function streamUntilClosed(res: ServerResponse, chunk: Buffer, cap: number): Promise<{ sent: number; whole: boolean }> {
  return new Promise((resolve) => {
    let sent = 0;
    const more = () => {
      while (sent < cap) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end();
    };
    res.on('close', () => resolve({ sent, whole: res.writableFinished }));
    more();
  });
}
