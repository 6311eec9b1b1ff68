// Prints the video render pipeline as a Mermaid flowchart (`npm run graph`).
import { videoRender } from './pipeline.ts';

process.stdout.write(videoRender.toMermaid());
