// Durable runs: with durable: true a run stores checkpoints (its initial state, each step's output and
// the state after it), so a failed run is retried from its failed step, reusing what succeeded.
import { pipeline } from '../../sdk/index.ts';
import { openStore } from '../../exporters/postgres/index.ts';

const store = await openStore();
let gatewayUp = false; // the payment gateway is down during the first run
const calls: string[] = [];
const checkout = pipeline<{ items: number; total?: number }>('checkout', { persist: store, durable: true, version: '1' })
  .step('reserve', ({ state }) => {
    calls.push('reserve');
    return { reserved: state.items };
  }, { to: 'charge' })
  .step('charge', ({ state }) => {
    calls.push('charge');
    if (!gatewayUp) throw new Error('payment gateway unavailable');
    state.total = state.items * 12;
    return { charged: state.total };
  }, { to: 'ship' })
  .step('ship', ({ state }) => {
    calls.push('ship');
    return `shipped ${state.items} items, charged ${state.total}`;
  });

const failed = await checkout.run({ items: 3 });
gatewayUp = true;
const retried = await checkout.retry(failed.runId); // a new run, linked to the failed one
console.log(`${failed.status} at ${failed.failedNode}; retried: ${retried.status}, ${retried.outputs.ship}`);
console.log(`calls: ${calls.join(', ')}`); // reserve ran once: the retry restored its output
await store.close();
