// Thumbnails: items through two stages of workers, a retried download, a skipped
// image, and a StatusTracker that keeps each item's history.
import { StatusTracker, stages } from '../../sdk/index.ts';

class Flaky extends Error {}

const tracker = new StatusTracker({ history: 20 });
const thumbnails = stages<string>('thumbnails', { tracker })
  .stage('download', {
    workers: 4,
    tasks: async (url: string, { attempt }) => {
      if (url.endsWith('7.png') && attempt === 1) throw new Flaky(`timeout fetching ${url}`);
      return { url, bytes: url.length * 1_000 };
    },
    retry: { attempts: 3, initialDelayMs: 5 },
  })
  .stage('resize', {
    workers: 2,
    skip: (image) => image.bytes > 40_000,
    tasks: [function decode(image) { return { ...image, pixels: image.bytes / 4 }; }, function shrink(image) { return `${image.url} -> ${image.pixels / 4} px`; }],
  });

const urls = Array.from({ length: 10 }, (_, i) => `https://cdn.example/${i === 9 ? 'very-large-hero-image' : 'img'}-${i}.png`);
const result = await thumbnails.run(urls);
console.log(result.status, `${result.completed} completed, ${result.skipped} skipped, ${result.failed} failed`);
console.log(result.results.slice(0, 3).join('\n'));
console.log(tracker.stats());
console.log(tracker.history('7').map((e) => `${e.type}${'status' in e ? ` ${e.status}` : ''}`).join(' → '));
