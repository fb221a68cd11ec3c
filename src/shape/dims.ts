// Dimensions during shape inference: a known size, a symbolic expression, or unknown.
//
// Symbolic dims are polynomials with integer coefficients over named symbols, so that the arithmetic shape code
// does (Reshape's -1, Flatten, Concat, Slice, Conv with stride 1) stays exact: [batch, sequence, 768] flattened
// to 2-D is [batch*sequence, 768], and Concat of a past and a new sequence is [past+sequence].

/** A known size, a symbolic expression (Sym), or undefined when nothing is known. */
export type SymDim = number | Sym | undefined;

/** A product of symbols: their names, sorted, with repeats for powers. */
type Monomial = readonly string[];

interface Term {
  coeff: number;
  atoms: Monomial;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_.:]*$/;

/** A polynomial over named symbols with integer coefficients (never a plain constant: those are numbers). */
export class Sym {
  /** Canonical text: equal polynomials have equal keys. */
  readonly key: string;

  private constructor(readonly terms: readonly Term[]) {
    this.key = formatTerms(terms);
  }

  /** A dim from a list of terms; a constant comes back as a number. */
  static of(terms: readonly Term[]): SymDim {
    const merged = new Map<string, Term>();
    for (const t of terms) {
      const k = monomialKey(t.atoms);
      const prev = merged.get(k);
      merged.set(k, { coeff: (prev?.coeff ?? 0) + t.coeff, atoms: t.atoms });
    }
    const kept = [...merged.values()].filter((t) => t.coeff !== 0).sort(compareTerms);
    if (kept.length === 0) return 0;
    if (kept.length === 1 && kept[0]!.atoms.length === 0) return kept[0]!.coeff;
    return new Sym(kept);
  }

  /** A single named symbol, kept exactly as written. */
  static named(name: string): Sym {
    return new Sym([{ coeff: 1, atoms: [name] }]);
  }

  /** The name to write as a dim_param: the symbol itself when this is one, else the canonical expression. */
  toParam(): string {
    const only = this.terms.length === 1 ? this.terms[0]! : undefined;
    return only && only.coeff === 1 && only.atoms.length === 1 ? only.atoms[0]! : this.key;
  }

  /** The symbol's name when this dim is exactly one symbol. */
  get atom(): string | undefined {
    const only = this.terms.length === 1 ? this.terms[0]! : undefined;
    return only && only.coeff === 1 && only.atoms.length === 1 ? only.atoms[0] : undefined;
  }

  toString(): string {
    return this.key;
  }
}

function monomialKey(atoms: Monomial): string {
  return atoms.join('\u0001');
}

function compareTerms(a: Term, b: Term): number {
  // Higher degree first, the constant last; then by the symbols' names.
  if (a.atoms.length !== b.atoms.length) return b.atoms.length - a.atoms.length;
  const ka = monomialKey(a.atoms),
    kb = monomialKey(b.atoms);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function formatTerms(terms: readonly Term[]): string {
  let out = '';
  terms.forEach((t, i) => {
    const names = t.atoms.map((a) => (IDENT.test(a) ? a : `(${a})`));
    const mag = Math.abs(t.coeff);
    const body = names.length === 0 ? String(mag) : mag === 1 ? names.join('*') : `${mag}*${names.join('*')}`;
    out += t.coeff < 0 ? `-${body}` : i === 0 ? body : `+${body}`;
  });
  return out;
}

/**
 * Reads a dim_param. Sums and products of names and integers ("batch*sequence", "past + 1") become polynomials;
 * anything else is one opaque symbol named by the whole text.
 */
export function parseParam(text: string): SymDim {
  let dim = parsed.get(text);
  if (dim === undefined) {
    // a model names few dims and inference reads them at every value: parse each text once (dims are immutable)
    if (parsed.size >= MAX_PARSED) parsed.clear();
    dim = parsePolynomial(text) ?? Sym.named(text);
    parsed.set(text, dim);
  }
  return dim;
}

const parsed = new Map<string, SymDim>();
const MAX_PARSED = 10_000;

function parsePolynomial(text: string): SymDim | null {
  const tokens = text.match(/\s*(\d+|[A-Za-z_][A-Za-z0-9_.:]*|[+\-*])\s*/gy);
  if (!tokens || tokens.join('').length !== text.length) return null;
  const toks = tokens.map((t) => t.trim());
  const terms: Term[] = [];
  let i = 0;
  let sign = 1;
  if (toks[0] === '-') {
    sign = -1;
    i++;
  }
  for (;;) {
    let coeff = sign;
    const atoms: string[] = [];
    for (;;) {
      const tok = toks[i++];
      if (tok === undefined || tok === '+' || tok === '-' || tok === '*') return null;
      if (/^\d+$/.test(tok)) coeff *= Number(tok);
      else atoms.push(tok);
      if (toks[i] !== '*') break;
      i++;
    }
    terms.push({ coeff, atoms: atoms.sort() });
    if (i === toks.length) break;
    const op = toks[i++];
    if (op !== '+' && op !== '-') return null;
    sign = op === '+' ? 1 : -1;
  }
  return Sym.of(terms);
}

function termsOf(d: number | Sym): readonly Term[] {
  return typeof d === 'number' ? [{ coeff: d, atoms: [] }] : d.terms;
}

/**
 * True for a symbol named unk__N: by the convention of onnxruntime's symbolic shape inference (and ours) such a
 * name only stands for "some size known at run time", so a better answer may replace it.
 */
export function isPlaceholder(d: SymDim): boolean {
  return d instanceof Sym && d.atom !== undefined && /^unk__\d+$/.test(d.atom);
}

export function dimsEqual(a: SymDim, b: SymDim): boolean {
  if (a === undefined || b === undefined) return false;
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  return a.key === b.key;
}

export function addDims(a: SymDim, b: SymDim): SymDim {
  if (a === undefined || b === undefined) return undefined;
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  return Sym.of([...termsOf(a), ...termsOf(b)]);
}

export function negDim(a: SymDim): SymDim {
  if (a === undefined) return undefined;
  if (typeof a === 'number') return -a;
  return Sym.of(a.terms.map((t) => ({ coeff: -t.coeff, atoms: t.atoms })));
}

export function subDims(a: SymDim, b: SymDim): SymDim {
  return addDims(a, negDim(b));
}

export function mulDims(a: SymDim, b: SymDim): SymDim {
  if (a === undefined || b === undefined) return undefined;
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (a === 0 || b === 0) return 0;
  const out: Term[] = [];
  for (const x of termsOf(a)) {
    for (const y of termsOf(b)) out.push({ coeff: x.coeff * y.coeff, atoms: [...x.atoms, ...y.atoms].sort() });
  }
  return Sym.of(out);
}

/** The product of dims; undefined when any is unknown. */
export function productOf(dims: readonly SymDim[]): SymDim {
  return dims.reduce<SymDim>((acc, d) => mulDims(acc, d), 1);
}

/** a / b when it divides exactly (b a number or a single term); undefined otherwise. */
export function divDimsExact(a: SymDim, b: SymDim): SymDim {
  if (a === undefined || b === undefined || b === 0) return undefined;
  if (typeof a === 'number' && typeof b === 'number') return a % b === 0 ? a / b : undefined;
  if (typeof b !== 'number' && typeof a !== 'number' && a.key === b.key) return 1;
  const divisor = termsOf(b);
  if (divisor.length !== 1) return undefined;
  const { coeff, atoms } = divisor[0]!;
  const out: Term[] = [];
  for (const t of termsOf(a)) {
    if (t.coeff % coeff !== 0) return undefined;
    const rest = [...t.atoms];
    for (const s of atoms) {
      const at = rest.indexOf(s);
      if (at < 0) return undefined;
      rest.splice(at, 1);
    }
    out.push({ coeff: t.coeff / coeff, atoms: rest });
  }
  return Sym.of(out);
}

/** floor(a / k) for a positive integer k, when it can be written exactly. */
export function floorDivDim(a: SymDim, k: number): SymDim {
  if (a === undefined || !(k > 0)) return undefined;
  if (typeof a === 'number') return Math.floor(a / k);
  return divDimsExact(a, k);
}

/** ceil(a / k) for a positive integer k, when it can be written exactly. */
export function ceilDivDim(a: SymDim, k: number): SymDim {
  if (a === undefined || !(k > 0)) return undefined;
  if (typeof a === 'number') return Math.ceil(a / k);
  return divDimsExact(a, k);
}

/** Replaces bound symbols by their sizes (fixedDims); a fully bound polynomial becomes a number. */
export function bindDim(d: SymDim, binding: ReadonlyMap<string, number>): SymDim {
  if (d === undefined || typeof d === 'number' || binding.size === 0) return d;
  let touched = false;
  const terms: Term[] = d.terms.map((t) => {
    let coeff = t.coeff;
    const atoms: string[] = [];
    for (const s of t.atoms) {
      const v = binding.get(s);
      if (v === undefined) atoms.push(s);
      else {
        coeff *= v;
        touched = true;
      }
    }
    return { coeff, atoms };
  });
  return touched ? Sym.of(terms) : d;
}

/**
 * The dim two broadcast operands produce, assuming the model is valid: 1 yields to the other side, a size wins
 * over a symbol (the symbol must be that size or 1), and a symbol wins over an unknown. 'conflict' when two sizes
 * other than 1 differ.
 */
export function broadcastDim(a: SymDim, b: SymDim): SymDim | 'conflict' {
  if (a === 1) return b;
  if (b === 1) return a;
  if (typeof a === 'number' && typeof b === 'number') return a === b ? a : 'conflict';
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a.key === b.key ? a : undefined;
}

/** Multidirectional (numpy) broadcasting of shapes; undefined when a rank is unknown or the sizes clash. */
export function broadcastShapes(shapes: readonly (readonly SymDim[] | undefined)[]): SymDim[] | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const all = shapes as readonly (readonly SymDim[])[];
  const rank = Math.max(0, ...all.map((s) => s.length));
  const out: SymDim[] = [];
  for (let i = 0; i < rank; i++) {
    let acc: SymDim = 1;
    for (const s of all) {
      const d = i < rank - s.length ? 1 : s[i - (rank - s.length)];
      const r = broadcastDim(acc, d);
      if (r === 'conflict') return undefined;
      acc = r;
    }
    out.push(acc);
  }
  return out;
}

/** Text for messages: [batch,sequence,768], with ? for unknown dims. */
export function formatShape(shape: readonly SymDim[] | undefined): string {
  if (!shape) return '[?...]';
  return `[${shape.map((d) => (d === undefined ? '?' : String(d))).join(',')}]`;
}

/** The size a dim_param stands for once its symbols have sizes ("batch*sequence" with batch=2, sequence=8: 16). */
export function evaluateParam(text: string, sizes: Readonly<Record<string, number>>): number | undefined {
  if (text in sizes) return sizes[text];
  const dim = parseParam(text);
  if (typeof dim === 'number') return dim;
  if (!dim) return undefined;
  let total = 0;
  for (const t of dim.terms) {
    let v = t.coeff;
    for (const a of t.atoms) {
      const s = sizes[a];
      if (s === undefined) return evaluateArithmetic(text, sizes);
      v *= s;
    }
    total += v;
  }
  return total;
}

/**
 * A dim name that is integer arithmetic over bound symbols, as torch's dynamo exporter writes output dims
 * ('((encoder_sequence*batch)//batch)'): +, -, *, // (floor division) and parentheses. Undefined for anything else.
 */
function evaluateArithmetic(text: string, sizes: Readonly<Record<string, number>>): number | undefined {
  const tokens = text.match(/\d+|[A-Za-z_][\w.]*|\/\/|[-+*()]|\S/g) ?? [];
  let at = 0;
  const atom = (): number | undefined => {
    const t = tokens[at++];
    if (t === undefined) return undefined;
    if (t === '(') {
      const v = sum();
      return tokens[at++] === ')' ? v : undefined;
    }
    if (t === '-') {
      const v = atom();
      return v === undefined ? undefined : -v;
    }
    if (/^\d+$/.test(t)) return Number(t);
    return /^[A-Za-z_]/.test(t) ? sizes[t] : undefined;
  };
  const product = (): number | undefined => {
    let v = atom();
    while (v !== undefined && (tokens[at] === '*' || tokens[at] === '//')) {
      const op = tokens[at++];
      const w = atom();
      if (w === undefined || (op === '//' && w === 0)) return undefined;
      v = op === '*' ? v * w : Math.floor(v / w);
    }
    return v;
  };
  const sum = (): number | undefined => {
    let v = product();
    while (v !== undefined && (tokens[at] === '+' || tokens[at] === '-')) {
      const op = tokens[at++];
      const w = product();
      if (w === undefined) return undefined;
      v = op === '+' ? v + w : v - w;
    }
    return v;
  };
  const value = sum();
  return at === tokens.length ? value : undefined;
}
