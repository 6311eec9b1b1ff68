// Bad input from plain JavaScript callers: each mistake fails at the earliest
// point with an error that names the offending option or value and says what to do.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DefinitionError, map, pipeline, stages } from '../sdk/index.ts';
import { definitionError } from './support.ts';

const ok = async () => {};

describe('graph pipelines reject bad definitions at once', () => {
  test('a step whose fn is not a function', () => {
    definitionError(() => pipeline('x').step('a', 'not a function' as never), /step 'a'/, /must be a function/, /got 'not a function'/, /\.step\('a', async/);
  });

  test('barrier, map and switch functions that are not functions', () => {
    definitionError(() => pipeline('x').barrier('b', 42 as never), /barrier 'b'/, /must be a function/, /got 42/);
    definitionError(() => pipeline('x').map('m', undefined as never, { worker: 'w' }), /map 'm'/, /must be a function/);
    definitionError(() => pipeline('x').switch('s', null as never, { to: ['a'] }), /switch 's'/, /must be a function/, /got null/);
  });

  test('a `to` that is not a step name', () => {
    definitionError(() => pipeline('x').step('a', ok, { to: 42 as never }), /step 'a'/, /to must be a step name or an array of step names/, /got 42/);
    definitionError(() => pipeline('x').step('a', ok, { to: ['b', 7] as never }), /got 7/);
  });

  test('a map without a worker names the option and shows how to give it', () => {
    definitionError(() => pipeline('x').map('m', () => [], { worker: undefined as never }), /map 'm'/, /worker must name the step/, /got undefined/, /worker: 'step-name'/);
  });

  test('a switch with no routes or targets fails on validate()', () => {
    const p = pipeline('x').switch('s', () => 'a', {} as never);
    definitionError(() => p.validate(), /switch 's' has no targets/, /routes/);
  });

  test('an unknown barrier mode and a bad barrierTimeout', () => {
    definitionError(() => pipeline('x').barrier('b', ok, { mode: 'some' as never }), /barrier 'b'/, /mode must be 'all' or 'any'/, /got 'some'/);
    definitionError(() => pipeline('x').barrier('b', ok, { barrierTimeout: 0 }), /barrierTimeout must be a positive number of ms/, /got 0/);
  });

  test('retry counts below one attempt', () => {
    definitionError(() => pipeline('x').step('a', ok, { retry: -1 }), /step 'a'/, /retry attempts must be a whole number of 1 or more/, /got -1/, /use 1 for no retry/);
    definitionError(() => pipeline('x').step('a', ok, { retry: { attempts: 0 } }), /got 0/);
    definitionError(() => pipeline('x').step('a', ok, { retry: 'twice' as never }), /retry must be a number of attempts or \{ attempts/, /got 'twice'/);
  });

  test('a timeout that is not a positive number of ms', () => {
    definitionError(() => pipeline('x').step('a', ok, { timeout: 'soon' as never }), /step 'a': timeout must be a positive number of ms \(got 'soon'\)/);
    definitionError(() => pipeline('x').step('a', ok, { timeout: -5 }), /\(got -5\)/);
  });

  test('valid retry and timeout options are still accepted', async () => {
    const p = pipeline('x').step('a', ok, { retry: 1, timeout: 30_000, to: 'b' }).step('b', ok, { retry: { attempts: 2, initialDelayMs: 1 } });
    assert.equal((await p.run(undefined)).status, 'succeeded');
  });
});

describe('graph run options', () => {
  const p = pipeline('x').step('a', ok);

  test('a negative run timeout is a RangeError naming the option', () => {
    assert.throws(() => p.run(undefined, { timeout: -5 }), (e: unknown) => e instanceof RangeError && /run timeout must be a positive number of ms \(got -5\)/.test(e.message) && /leave it out/.test(e.message));
  });

  test('an event buffer of zero is a RangeError naming the option', () => {
    assert.throws(() => p.run(undefined, { eventBuffer: 0 }), (e: unknown) => e instanceof RangeError && /eventBuffer must be a whole number of 1 or more \(got 0\)/.test(e.message));
  });
});

describe('stage pipelines reject bad definitions at once', () => {
  test('a stage without tasks', () => {
    definitionError(() => stages('x').stage('s', { tasks: undefined as never }), /stage 's'/, /task 1 must be a function or \{ name, run/, /got undefined/, /tasks: fn/);
  });

  test('a task list with something that is not a task', () => {
    definitionError(() => stages('x').stage('s', { tasks: [ok, 'x' as never] }), /stage 's': task 2 must be a function/, /got 'x'/);
    definitionError(() => stages('x').stage('s', { tasks: { name: 't' } as never }), /task 1 has no run function/, /run\(value, ctx\)/);
  });

  test('workers and capacity below one', () => {
    definitionError(() => stages('x').stage('s', { tasks: ok, workers: 0 }), /stage 's' workers must be a whole number of 1 or more \(got 0\)/);
    definitionError(() => stages('x').stage('s', { tasks: ok, capacity: -1 }), /stage 's' capacity must be a whole number of 1 or more \(got -1\)/);
  });

  test('bad retry options', () => {
    definitionError(() => stages('x').stage('s', { tasks: ok, retry: { mode: 'both' as never } }), /retry mode must be 'task' or 'stage' \(got 'both'\)/);
    definitionError(() => stages('x').stage('s', { tasks: ok, retry: -1 }), /stage 's': retry attempts must be a whole number of 1 or more/, /got -1/);
    definitionError(() => stages('x').stage('s', { tasks: ok, retry: { attempts: 0 } }), /got 0/);
    definitionError(() => stages('x').stage('s', { tasks: { name: 't', run: ok, retry: 0 } }), /task 't': retry attempts/);
  });

  test('a timeout that is not a positive number of ms', () => {
    definitionError(() => stages('x').stage('s', { tasks: ok, timeout: 'soon' as never }), /stage 's': timeout must be a positive number of ms \(got 'soon'\)/);
    definitionError(() => stages('x').stage('s', { tasks: { name: 't', run: ok, timeout: -5 } }), /task 't': timeout must be a positive number of ms \(got -5\)/);
  });
});

describe('feeding stage pipelines', () => {
  const p = stages<number>('x').stage('double', { tasks: async (n: number) => n * 2 });

  test('run() of something not iterable is a TypeError naming feed and what it accepts', async () => {
    await assert.rejects(p.run(42 as never), (e: unknown) => e instanceof TypeError && /feed\(\)/.test(e.message) && /array, an iterable or an async iterable/.test(e.message) && /got number/.test(e.message));
  });

  test('feed() of a string or null is refused, not split or crashed on', async () => {
    const batch = p.start();
    await assert.rejects(batch.feed('abc' as never), /got a string.*feed\(\[value\]\)/);
    await assert.rejects(batch.feed(null as never), /got null/);
    await batch.feed([1, 2]);
    const result = await batch.join();
    assert.deepEqual(result.results, [2, 4]);
  });

  test('feeding an unknown stage suggests the close name', async () => {
    const batch = p.start();
    await assert.rejects(batch.feed([1], { stage: 'doubel' }), (e: unknown) => e instanceof DefinitionError && /no stage named 'doubel'/.test(e.message) && /Did you mean 'double'/.test(e.message));
    await batch.shutdown();
  });
});

describe('map()', () => {
  test('a concurrency of zero is a RangeError naming the option', async () => {
    await assert.rejects(map(async (n: number) => n, [1], { concurrency: 0 }), (e: unknown) => e instanceof RangeError && /concurrency must be a whole number of 1 or more \(got 0\)/.test(e.message));
  });

  test('a fn that is not a function is a TypeError', async () => {
    await assert.rejects(map('not a fn' as never, [1]), (e: unknown) => e instanceof TypeError && /fn must be a function/.test(e.message) && /got string/.test(e.message));
  });

  test('negative retries are a RangeError; zero retries still runs once', async () => {
    await assert.rejects(map(async (n: number) => n, [1], { retries: -1 }), (e: unknown) => e instanceof RangeError && /retries must be a whole number of 0 or more.*\(got -1\)/.test(e.message));
    assert.deepEqual(await map(async (n: number) => n + 1, [1, 2], { retries: 0 }), [2, 3]);
  });
});
