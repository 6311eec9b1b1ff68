// Definition-time validation: a wrong pipeline fails before any step runs,
// with a DefinitionError whose message says what is wrong and how to fix it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pipeline } from '../sdk/index.ts';
import { definitionError } from './support.ts';

const noop = () => undefined;

describe('definition-time validation', () => {
  it('rejects a duplicate step name at the .step() call that repeats it', () => {
    const p = pipeline('dup').step('fetch', noop, { to: 'parse' });
    const error = definitionError(() => p.step('fetch', noop));
    assert.match(error.message, /step 'fetch' is defined twice/);
    assert.match(error.message, /pipeline 'dup'/);
    assert.deepEqual(error.problems.length, 1);
  });

  it('rejects a target that names no step, suggesting the closest name', () => {
    const p = pipeline('typo').step('fetch', noop, { to: 'pasre' }).step('parse', noop);
    const error = definitionError(() => p.validate());
    assert.match(error.message, /step 'fetch' points to unknown step 'pasre'/);
    assert.match(error.message, /Did you mean 'parse'\?/);
  });

  it('gives no suggestion when no step name is close', () => {
    const p = pipeline('typo').step('fetch', noop, { to: 'zzzzzzzzzz' });
    const error = definitionError(() => p.validate());
    assert.match(error.message, /unknown step 'zzzzzzzzzz'/);
    assert.doesNotMatch(error.message, /Did you mean/);
  });

  it('rejects a cycle and prints it edge by edge', () => {
    const p = pipeline('loop').step('start', noop, { to: 'a' }).step('a', noop, { to: 'b' }).step('b', noop, { to: 'a' });
    const error = definitionError(() => p.validate());
    assert.match(error.message, /there is a cycle: a -> b -> a/);
  });

  it('rejects a pipeline without a root (every step has a parent)', () => {
    const p = pipeline('no-root').step('a', noop, { to: 'b' }).step('b', noop, { to: 'a' });
    const error = definitionError(() => p.validate());
    assert.ok(error.problems.some((m) => /it has no root/.test(m)), error.message);
    assert.ok(error.problems.some((m) => /cycle: a -> b -> a/.test(m)), error.message);
  });

  it('rejects a pipeline with no steps at all', () => {
    const error = definitionError(() => pipeline('empty').validate());
    assert.match(error.message, /no steps/);
  });

  it('rejects several roots and names each of them', () => {
    const p = pipeline('roots').step('a', noop, { to: 'c' }).step('b', noop, { to: 'c' }).step('c', noop).step('d', noop);
    const error = definitionError(() => p.validate());
    assert.match(error.message, /several roots \(a, b, d\)/);
  });

  it('rejects steps that cannot be reached from the root', () => {
    const p = pipeline('island')
      .step('start', noop, { to: 'end' })
      .step('end', noop)
      .step('orphan-a', noop, { to: 'orphan-b' })
      .step('orphan-b', noop, { to: 'orphan-a' });
    const error = definitionError(() => p.validate());
    assert.ok(
      error.problems.some((m) => /'orphan-a', 'orphan-b' cannot be reached from the root 'start'/.test(m)),
      error.message,
    );
  });

  it('rejects a map worker that has targets of its own, pointing at the map', () => {
    const p = pipeline('worker-to')
      .map('extract', () => [1, 2], { worker: 'analyze', to: 'merge' })
      .step('analyze', noop, { to: 'merge' })
      .step('merge', noop);
    const error = definitionError(() => p.validate());
    assert.match(error.message, /map worker 'analyze' has its own targets \(merge\)/);
    assert.match(error.message, /move `to` onto 'extract'/);
  });

  it('rejects a map whose worker names no step, suggesting one', () => {
    const p = pipeline('worker-typo').map('extract', () => [1], { worker: 'analyse' }).step('analyze', noop);
    const error = definitionError(() => p.validate());
    assert.match(error.message, /map 'extract' \(worker\) points to unknown step 'analyse'\. Did you mean 'analyze'\?/);
  });

  it('rejects a barrier with a single parent', () => {
    const p = pipeline('lonely').step('a', noop, { to: 'join' }).barrier('join', noop);
    const error = definitionError(() => p.validate());
    assert.match(error.message, /barrier 'join' has 1 parent\(s\)/);
    assert.match(error.message, /use \.step\(\) for a single one/);
  });

  it('rejects a switch with neither routes nor targets', () => {
    const p = pipeline('dead-end').switch('pick', () => 'x', {});
    const error = definitionError(() => p.validate());
    assert.match(error.message, /switch 'pick' has no targets/);
  });

  it('rejects resumeFrom naming an unknown step, before the run starts', () => {
    const p = pipeline('resume').step('review', noop, { to: 'publish' }).step('publish', noop);
    const error = definitionError(() => p.run(undefined, { resumeFrom: 'publsh' }));
    assert.match(error.message, /resumeFrom names unknown step 'publsh'\. Did you mean 'publish'\?/);
  });

  it('rejects bad numeric options where they are given', () => {
    const p = pipeline('numbers');
    assert.match(definitionError(() => p.step('slow', noop, { timeout: 0 })).message, /timeout must be a positive number/);
    assert.match(
      definitionError(() => p.map('m', () => [], { worker: 'w', concurrency: 0 })).message,
      /concurrency must be 1 or more \(got 0\)/,
    );
  });

  it('freezes the definition after its first run: adding a step throws, naming the step', async () => {
    const p = pipeline('frozen').step('only', () => 'ok');
    const result = await p.run(undefined);
    assert.equal(result.status, 'succeeded');
    const error = definitionError(() => p.step('late', noop));
    assert.match(error.message, /cannot add step 'late'/);
    assert.match(error.message, /frozen/);
    assert.match(definitionError(() => p.onShutdown('late-hook', noop)).message, /frozen/);
  });

  it('freezes the definition on validate() as well', () => {
    const p = pipeline('frozen').step('only', noop).validate();
    assert.match(definitionError(() => p.step('late', noop)).message, /frozen/);
  });

  it('reports every problem together, one line each', () => {
    const p = pipeline('messy')
      .step('start', noop, { to: ['fetch', 'nowhere'] })
      .step('fetch', noop, { to: 'join' })
      .barrier('join', noop)
      .step('stray', noop);
    const error = definitionError(() => p.validate());
    assert.equal(error.problems.length, 3, error.message);
    assert.match(error.message, /pipeline 'messy' has 3 problems:\n {2}- /);
    assert.ok(error.problems.some((m) => /unknown step 'nowhere'/.test(m)));
    assert.ok(error.problems.some((m) => /barrier 'join' has 1 parent/.test(m)));
    assert.ok(error.problems.some((m) => /several roots \(start, stray\)/.test(m)));
  });

  it('does not run anything when the definition is wrong', () => {
    let ran = false;
    const p = pipeline('never').step('a', () => {
      ran = true;
    }, { to: 'missing' });
    definitionError(() => p.run(undefined));
    assert.equal(ran, false);
  });

  it('accepts a well-formed graph of every node kind', () => {
    const child = pipeline('child').step('inner', noop);
    const p = pipeline('ok')
      .step('start', noop, { to: ['left', 'right'] })
      .step('left', noop, { to: 'join' })
      .step('right', noop, { to: 'join' })
      .barrier('join', noop, { to: 'items' })
      .map('items', () => [1], { worker: 'each', to: 'pick' })
      .step('each', noop)
      .switch('pick', () => 'a', { routes: { a: 'nested' } })
      .sub('nested', child, { state: () => undefined });
    assert.equal(p.validate(), p);
  });
});
