// Moving large buffers between threads instead of copying them. A task's input
// (main thread) or output (worker) wrapped in `transfer()` crosses with its
// buffers in the message's transfer list: the sender's copy becomes unusable
// (detached) and the receiver gets the memory without a copy.

import { types } from 'node:util';
import { MessagePort, type Transferable } from 'node:worker_threads';

const TRANSFER: unique symbol = Symbol.for('spanflow.transfer');
// Piscina.move() marks a value with these (global symbols): accepted too.
const PISCINA_TRANSFERABLE = Symbol.for('Piscina.transferable');
const PISCINA_VALUE = Symbol.for('Piscina.valueOf');

/** A value and the buffers (or ports) to move with it rather than copy. */
export interface Transfer<T> {
  readonly [TRANSFER]: true;
  readonly value: T;
  readonly list: readonly Transferable[];
}

/** What `transfer()` finds on its own when given no list. */
type SelfTransferable = ArrayBuffer | ArrayBufferView | MessagePort;

/**
 * Sends `value` to the other thread moving `list` instead of copying it:
 * `return transfer({ width, height, pixels }, [pixels.buffer])`. An
 * ArrayBuffer, typed array or MessagePort needs no list: `transfer(pixels)`.
 * The sender must not use what it moved afterwards (it is detached). Buffers
 * from Node's shared pool (small `Buffer.from(...)`s) cannot be moved: use
 * `Buffer.alloc` or a typed array of your own.
 */
export function transfer<T extends SelfTransferable>(value: T): Transfer<T>;
export function transfer<T>(value: T, list: readonly Transferable[]): Transfer<T>;
export function transfer<T>(value: T, list?: readonly Transferable[]): Transfer<T> {
  if (list === undefined) {
    if (types.isArrayBuffer(value)) list = [value];
    else if (ArrayBuffer.isView(value)) list = [value.buffer as ArrayBuffer];
    else if (value instanceof MessagePort) list = [value as unknown as Transferable];
    else {
      throw new TypeError(
        'transfer(value): name the buffers to move, as transfer(value, [value.pixels.buffer]); only an ArrayBuffer, a typed array or a MessagePort needs no list',
      );
    }
  } else if (!Array.isArray(list)) {
    throw new TypeError(`transfer(value, list): list must be an array of ArrayBuffers or MessagePorts (got ${typeof list})`);
  }
  return { [TRANSFER]: true, value, list };
}

/** The value without its wrapper, and what to move (undefined: copy everything). */
export function unwrapTransfer(value: unknown): { value: unknown; list: Transferable[] | undefined } {
  if (value === null || typeof value !== 'object') return { value, list: undefined };
  if (TRANSFER in value) {
    const wrapped = value as Transfer<unknown>;
    return { value: wrapped.value, list: [...wrapped.list] };
  }
  if (PISCINA_TRANSFERABLE in value && PISCINA_VALUE in value) {
    const moved = value as { [PISCINA_TRANSFERABLE]: Transferable; [PISCINA_VALUE]: unknown };
    return { value: moved[PISCINA_VALUE], list: [moved[PISCINA_TRANSFERABLE]] };
  }
  return { value, list: undefined };
}

/** The output type of a worker function that may return `transfer(output)`. */
export type Unwrapped<T> = T extends Transfer<infer U> ? U : T;
