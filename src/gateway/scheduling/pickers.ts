import type { EndpointState } from '../endpoints/endpoint-state.ts';
import type { Picker } from './framework.ts';

/** Takes the highest total; ties are broken in turn, so equal endpoints share the traffic. */
export class MaxScorePicker implements Picker {
  readonly name = 'max-score';
  private turn = 0;
  pick(candidates: readonly EndpointState[], totals: Float64Array): number {
    let best = Number.NEGATIVE_INFINITY;
    let ties = 0;
    for (let i = 0; i < candidates.length; i++) {
      const t = totals[i]!;
      if (t > best + 1e-9) {
        best = t;
        ties = 1;
      } else if (t >= best - 1e-9) ties++;
    }
    let nth = this.turn++ % ties;
    for (let i = 0; i < candidates.length; i++) {
      if (totals[i]! >= best - 1e-9) {
        if (nth === 0) return i;
        nth--;
      }
    }
    return 0;
  }
}

/** Ignores the scores and takes the candidates in turn. */
export class RoundRobinPicker implements Picker {
  readonly name = 'round-robin';
  private turn = 0;
  pick(candidates: readonly EndpointState[]): number {
    return this.turn++ % candidates.length;
  }
}
