/**
 * Readiness as named checks (`temporal`, `informers`), each answering whether it holds and a line saying why
 * not; /readyz runs them all and answers 200 only when every one holds.
 */

/** One condition of readiness: whether it holds, and a line a person can act on. */
export interface CheckResult {
  ok: boolean;
  detail: string;
}

export type Check = () => CheckResult | Promise<CheckResult>;

export interface Readiness {
  ready: boolean;
  checks: (CheckResult & { name: string })[];
}

/** Runs every check, each bounded by `timeoutMs`: one that throws or hangs fails, saying so. */
export async function readiness(checks: Record<string, Check>, timeoutMs = 3000): Promise<Readiness> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<CheckResult>((resolve) => {
        timer = setTimeout(
          () => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }),
          timeoutMs,
        );
      });
      try {
        const result = await Promise.race([Promise.resolve().then(check), timeout]);
        return { name, ...result };
      } catch (err) {
        return { name, ok: false, detail: `check failed: ${(err as Error).message}` };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: results.every((r) => r.ok), checks: results };
}

/** The body of /readyz: "ready" or "not ready", then one line per check (as the API server's ?verbose). */
export function renderReadiness(r: Readiness): string {
  const lines = r.checks.map((c) => `[${c.ok ? '+' : '-'}]${c.name} ${c.ok ? 'ok' : 'failed'}: ${c.detail}`);
  return `${r.ready ? 'ready' : 'not ready'}\n${lines.join('\n')}\n`;
}

/** What the Temporal check needs of a connection: the client's Connection and the worker's NativeConnection. */
export interface TemporalRpc {
  workflowService: { getSystemInfo(request: object): Promise<unknown> };
  withDeadline<T>(deadline: number, fn: () => Promise<T>): Promise<T>;
}

/**
 * Whether the Temporal frontend answers GetSystemInfo within `deadlineMs`. The answer is kept for `cacheMs`
 * and concurrent probes share one call, so a probe every second costs at most one RPC a second.
 */
export function temporalReachable(
  connection: () => TemporalRpc | undefined,
  address: string,
  options: { deadlineMs?: number; cacheMs?: number } = {},
): Check {
  const deadlineMs = options.deadlineMs ?? 2000;
  const cacheMs = options.cacheMs ?? 1000;
  let last: { at: number; result: CheckResult } | undefined;
  let inFlight: Promise<CheckResult> | undefined;
  const call = async (rpc: TemporalRpc): Promise<CheckResult> => {
    let timer: NodeJS.Timeout | undefined;
    // The client retries an unavailable frontend within the deadline and may answer after it: ours bounds it.
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs);
    });
    try {
      await Promise.race([
        rpc.withDeadline(Date.now() + deadlineMs, () => rpc.workflowService.getSystemInfo({})),
        late,
      ]);
      return { ok: true, detail: `Temporal at ${address} answers` };
    } catch (err) {
      return { ok: false, detail: `Temporal at ${address} unreachable: ${(err as Error).message}` };
    } finally {
      clearTimeout(timer);
    }
  };
  return () => {
    const rpc = connection();
    if (!rpc) return { ok: false, detail: `connecting to Temporal at ${address}` };
    if (last && Date.now() - last.at < cacheMs) return last.result;
    inFlight ??= call(rpc).then((result) => {
      last = { at: Date.now(), result };
      inFlight = undefined;
      return result;
    });
    return inFlight;
  };
}
