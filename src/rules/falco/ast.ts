// The syntax tree of a Falco condition. Offsets are into the condition text, for error positions.

export type BinaryOperator =
  | '='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'glob'
  | 'iglob'
  | 'contains'
  | 'icontains'
  | 'bcontains'
  | 'startswith'
  | 'bstartswith'
  | 'endswith'
  | 'regex'
  | 'in'
  | 'intersects'
  | 'pmatch';

/** The operators that take a list: `field in (a, b)`. */
export const LIST_OPERATORS: ReadonlySet<BinaryOperator> = new Set(['in', 'intersects', 'pmatch']);

export interface FieldRef {
  /** As written: `ka.uri.param`. */
  readonly name: string;
  /** The text between the brackets, unquoted: `command` in `ka.uri.param[command]`. */
  readonly arg: string | undefined;
  readonly offset: number;
}

export interface Value {
  readonly text: string;
  readonly offset: number;
}

export type Operand =
  | { readonly kind: 'value'; readonly value: Value }
  /** `(a, b, some_list)`; or a bare identifier after a list operator, which names a list. */
  | { readonly kind: 'list'; readonly items: readonly Value[]; readonly offset: number; readonly bare: boolean };

export type Expr =
  | { readonly kind: 'and' | 'or'; readonly children: readonly Expr[]; readonly offset: number }
  | { readonly kind: 'not'; readonly child: Expr; readonly offset: number }
  /** A bare name: a macro reference. */
  | { readonly kind: 'identifier'; readonly name: string; readonly offset: number }
  | { readonly kind: 'exists'; readonly field: FieldRef; readonly offset: number }
  | { readonly kind: 'compare'; readonly field: FieldRef; readonly op: BinaryOperator; readonly operand: Operand; readonly offset: number; readonly opOffset: number };

/** `ka.uri.param[command]`, as a field is named in output_fields and in messages. */
export function fieldLabel(field: { name: string; arg: string | undefined }): string {
  return field.arg === undefined ? field.name : `${field.name}[${field.arg}]`;
}
