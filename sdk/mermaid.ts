// Mermaid text shared by graph and stage pipelines' flowcharts.

/** A node label, quoted and escaped. */
export function mermaidLabel(text: string): string {
  // `#` first, so a name that happens to spell an entity (`#quot;`) stays literal; a line break would end the statement.
  return `"${text.replace(/#/g, '#35;').replace(/"/g, '#quot;').replace(/\r?\n/g, '<br>')}"`;
}
