// A tiny WordPiece tokenizer of our own (lower-case letters, digits, a few words), written as the tokenizer.json /
// tokenizer_config.json pair transformers.js reads, sized to the fixtures' vocabulary.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const WORDS = (
  'the of and to in is was for on that with as by at from it his an be are which this or had not but ' +
  'first one their new after also who they has her have two were been other all there when up into its time more ' +
  'model small fast graph weight block value token world hello'
).split(' ');

export function vocabulary(size: number): string[] {
  const letters = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
  const tokens = [
    '[PAD]',
    '[UNK]',
    '[CLS]',
    '[SEP]',
    '[MASK]',
    ...letters,
    ...letters.map((c) => `##${c}`),
    '.',
    ',',
    '!',
    '?',
    "'",
    '-',
    ...WORDS,
  ];
  for (let i = 0; tokens.length < size; i++) tokens.push(`[unused${i}]`);
  return tokens.slice(0, size);
}

/** Writes tokenizer.json and tokenizer_config.json into `dir`; `withSpecials` wraps inputs in [CLS] ... [SEP]. */
export function writeTokenizer(dir: string, size: number, withSpecials: boolean): void {
  const vocab = Object.fromEntries(vocabulary(size).map((t, i) => [t, i]));
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      special(0, '[PAD]'),
      special(1, '[UNK]'),
      special(2, '[CLS]'),
      special(3, '[SEP]'),
      special(4, '[MASK]'),
    ],
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: withSpecials
      ? { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] }
      : {
          type: 'TemplateProcessing',
          single: [{ Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: {},
        },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      tokenizer_class: withSpecials ? 'BertTokenizer' : 'PreTrainedTokenizer',
      model_max_length: 128,
      do_lower_case: true,
      pad_token: '[PAD]',
      unk_token: '[UNK]',
      cls_token: '[CLS]',
      sep_token: '[SEP]',
      mask_token: '[MASK]',
    }),
  );
}
