// The one serializer for what leaves the process as stored text: run and
// pipeline meta, outputs, tokens, errors, pipeline descriptions (and their
// hashes). Values from users can hold what JSON cannot say (bigints, cycles)
// or what Postgres refuses (NUL characters, lone UTF-16 surrogates): they are
// made safe here, so one odd value never costs a run, a row or a batch.

const UNSAFE_ESCAPE = /\\u0000|\\ud[89a-f]/i;

/** Text Postgres takes: NUL becomes U+FFFD, a lone surrogate is made well-formed. */
export function safeText(value: string): string {
  const text = value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value;
  return text.isWellFormed() ? text : text.toWellFormed();
}

/**
 * A replacer that writes a bigint as its decimal digits, an Error as
 * "Name: message", an object already on the path from the root as
 * "[Circular]" (an object met twice elsewhere is written twice: that is not a
 * cycle), and every string, keys included, as `safeText`.
 */
function scrubbing(): (this: unknown, key: string, value: unknown) => unknown {
  // The objects from the root down to the one being written.
  const path: unknown[] = [];
  // Copies made for unsafe keys, and the objects they stand for.
  const originals = new WeakMap<object, unknown>();
  return function (this: unknown, _key, value) {
    if (typeof value === 'string') return safeText(value);
    if (typeof value === 'bigint') return value.toString();
    if (typeof value !== 'object' || value === null) return value;
    if (value instanceof Error) return safeText(`${value.name}: ${value.message}`);
    const holder = originals.get(this as object) ?? this;
    while (path.length > 0 && path[path.length - 1] !== holder) path.pop();
    if (path.includes(value)) return '[Circular]';
    path.push(value);
    if (Array.isArray(value)) return value;
    // Keys are not passed through a replacer: copy the object when one needs it.
    let unsafeKey = false;
    for (const key in value) {
      if (safeText(key) !== key) {
        unsafeKey = true;
        break;
      }
    }
    if (!unsafeKey) return value;
    const copy: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) copy[safeText(key)] = inner;
    originals.set(copy, value);
    return copy;
  };
}

/**
 * JSON text of any value, which Postgres' `jsonb` accepts: bigints as decimal
 * strings, cycles as "[Circular]", NUL and lone surrogates replaced. Never
 * throws (a `toJSON` that throws gives `{"unserializable": "<its error>"}`);
 * `undefined` and functions give `null`.
 */
export function safeJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // A bigint or a cycle: the slow path below copes with both.
  }
  if (text === undefined || (text.includes('\\u') && UNSAFE_ESCAPE.test(text))) {
    try {
      text = JSON.stringify(value, scrubbing());
    } catch (error) {
      text = JSON.stringify({ unserializable: safeText(error instanceof Error ? `${error.name}: ${error.message}` : String(error)) });
    }
  }
  return text ?? 'null';
}

/**
 * JSON text of a value that must come back as it was (a durable run's
 * checkpoint): what `safeJson` would change on the way (a bigint, a cycle, a
 * Map, a Date, a class instance, a function, a non-finite number) is refused
 * with a `TypeError` naming where it is, not quietly altered. Strings are
 * made safe as `safeText` makes them.
 */
export function storableJson(value: unknown): string {
  checkStorable(value, [], []);
  // Checked: the native stringify (several times faster than a replacer) writes it as it is.
  const text = JSON.stringify(value);
  if (text === undefined) return 'null';
  return text.includes('\\u') && UNSAFE_ESCAPE.test(text) ? JSON.stringify(value, scrubbing()) : text;
}

/** Throws a TypeError naming the first place (`a.b.0`) whose value JSON would not give back as it is. */
function checkStorable(value: unknown, path: (string | number)[], parents: object[]): void {
  const at = () => (path.length === 0 ? '(the value itself)' : path.join('.'));
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${at()} is ${value}, which JSON cannot keep`);
      return;
    case 'object': {
      if (value === null) return;
      const proto = Object.getPrototypeOf(value);
      const array = Array.isArray(value);
      if (!array && proto !== Object.prototype && proto !== null) {
        throw new TypeError(`${at()} is a ${(value as { constructor?: { name?: string } }).constructor?.name ?? 'non-plain object'}, which would not come back as one`);
      }
      if (parents.includes(value)) throw new TypeError(`${at()} refers back to an object that contains it (a cycle)`);
      parents.push(value);
      if (array) {
        for (let i = 0; i < value.length; i++) {
          path.push(i);
          checkStorable(value[i], path, parents);
          path.pop();
        }
      } else {
        for (const key in value) {
          path.push(key);
          checkStorable((value as Record<string, unknown>)[key], path, parents);
          path.pop();
        }
      }
      parents.pop();
      return;
    }
    default:
      throw new TypeError(`${at()} is a ${typeof value}, which JSON cannot keep`);
  }
}
