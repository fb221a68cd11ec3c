/**
 * The one error type the library throws for bad input or impossible requests. `file` names the model (or data file)
 * the problem is in, so the CLI can print one line: `<file>: <message>`.
 */
export class OnnxOptError extends Error {
  override readonly name = 'OnnxOptError';
  constructor(message: string, readonly file?: string, options?: { cause?: unknown }) {
    super(message, options);
  }

  /** The same error, attributed to a file if it was not already. */
  inFile(file: string): OnnxOptError {
    return this.file ? this : new OnnxOptError(this.message, file, { cause: this.cause ?? this });
  }

  override toString(): string {
    return this.file ? `${this.file}: ${this.message}` : this.message;
  }
}
