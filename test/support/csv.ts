// A strict RFC 4180 reader for the tests that check Berth's CSV exports: quoted fields with doubled quotes,
// CRLF (or LF) record ends, commas and line breaks inside quotes. Throws on a stray quote, so malformed
// quoting fails the test rather than being read leniently.
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  const endField = () => {
    row.push(field);
    field = "";
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '"' && field === "") {
      const close = (from: number): number => {
        const at = text.indexOf('"', from);
        if (at === -1) throw new Error(`unterminated quoted field at ${i}`);
        return text[at + 1] === '"' ? close(at + 2) : at;
      };
      const end = close(i + 1);
      field = text.slice(i + 1, end).replace(/""/g, '"');
      i = end + 1;
      if (i < text.length && text[i] !== "," && text[i] !== "\r" && text[i] !== "\n") throw new Error(`text after a closing quote at ${i}`);
      continue;
    }
    if (c === '"') throw new Error(`a quote inside an unquoted field at ${i}`);
    if (c === ",") {
      endField();
      i++;
    } else if (c === "\r" || c === "\n") {
      endField();
      rows.push(row);
      row = [];
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
    } else {
      field += c;
      i++;
    }
  }
  if (field !== "" || row.length) {
    endField();
    rows.push(row);
  }
  return rows;
}
