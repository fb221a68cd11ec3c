/**
 * The one error type the library throws for bad input or impossible requests. `file` names the model (or data file)
 * the problem is in, so the CLI can print one line: `<file>: <message>`.
 */
export class OnnxOptError extends Error {
  override readonly name: string = 'OnnxOptError';
  constructor(
    message: string,
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
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

/**
 * Something the environment lacks rather than something wrong with the input: e.g. onnxruntime-node, which the tools
 * that run models need and `npm install onnx-opt` does not install. The CLI exits with code 3 on it.
 */
export class EnvironmentError extends OnnxOptError {
  override readonly name: string = 'EnvironmentError';

  /** Not about any one file: stays as it is. */
  override inFile(): OnnxOptError {
    return this;
  }
}
