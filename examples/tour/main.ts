// A checkout pipeline: typed state, a switch, a map whose flaky item is retried, a
// streaming step; its events as they happen, then its result.
import { pipeline, STOP } from '../../sdk/index.ts';

type Order = { id: string; amount: number; lines: string[]; receipt?: string };

const checkout = pipeline<Order>('checkout', { meta: { team: 'payments' } })
  .step('validate', ({ state }) => {
    if (state.amount <= 0) throw new Error(`order ${state.id}: amount must be positive`);
  }, { to: 'route' })
  .switch('route', ({ state }) => (state.amount > 1000 ? 'review' : 'auto'), {
    routes: { auto: 'price-lines', review: STOP },
  })
  .map('price-lines', ({ state }) => state.lines, { worker: 'price', concurrency: 2, to: 'receipt' })
  .step<string>('price', async ({ item, attempt }) => {
    if (item === 'flaky' && attempt === 1) throw new Error('price service busy');
    return `${item}: ok`;
  }, { retry: { attempts: 3, initialDelayMs: 10 }, timeout: 1_000 })
  .step('receipt', async function* ({ state, output }) {
    for (const line of output<string[]>('price-lines') ?? []) yield line;
    state.receipt = `receipt for ${state.id}`;
    return state.receipt;
  });

const run = checkout.run({ id: 'A-17', amount: 42, lines: ['book', 'flaky', 'pen'] });
for await (const event of run) {
  // Events are a discriminated union: narrowing on `type` gives each its fields.
  switch (event.type) {
    case 'step_end':
      console.log(`${event.seq} step_end  ${event.node}${event.index === undefined ? '' : `[${event.index}]`} ${event.status}`);
      break;
    case 'step_retry':
      console.log(`${event.seq} retry     ${event.node}[${event.index}] attempt ${event.attempt}: ${event.error.message}`);
      break;
    case 'token':
      console.log(`${event.seq} token     ${event.node} ${String(event.token)}`);
      break;
    case 'run_end':
      console.log(`${event.seq} run_end   ${event.status} in ${event.durationMs.toFixed(1)} ms`);
      break;
  }
}
const result = await run.result; // or, without the events: const result = await checkout.run(state)
console.log(result.status, result.state.receipt, `${result.metrics.steps.price?.attempts} price attempts`);
