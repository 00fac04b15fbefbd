// `berth completion bash|zsh|fish`: a completion script generated from the command tree itself
// (commands, subcommands, flags and their choices), so it never offers what Berth does not have.
import type { Command } from 'commander';
import { errors } from '../errors.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;

interface Node {
  path: string[];
  name: string;
  description: string;
  options: { flags: string[]; description: string; takesValue: boolean; choices?: readonly string[] }[];
  children: Node[];
  choices?: readonly string[];
}

function tree(cmd: Command, path: string[] = []): Node {
  return {
    path,
    name: cmd.name(),
    description: cmd.description(),
    options: [...cmd.options, ...(path.length === 0 ? [] : [])].map((o) => ({
      flags: [o.short, o.long].filter((f): f is string => !!f),
      description: o.description,
      takesValue: o.required || o.optional,
      choices: o.argChoices,
    })),
    children: cmd.commands.map((c) => tree(c, [...path, c.name()])),
  };
}

function all(n: Node): Node[] {
  return [n, ...n.children.flatMap(all)];
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const globalFlags = ['--app', '--help', '--version'];

function bash(root: Node): string {
  const cases = all(root)
    .map((n) => {
      const words = [...n.children.map((c) => c.name), ...n.options.flatMap((o) => o.flags), '--help'];
      const valued = n.options.filter((o) => o.takesValue);
      const choiceCases = valued
        .filter((o) => o.choices)
        .map((o) => `          ${o.flags.join('|')}) COMPREPLY=($(compgen -W ${q(o.choices!.join(' '))} -- "$cur")); return ;;`)
        .join('\n');
      return `    ${q(n.path.join(' ') || '_root')})
        case "$prev" in
${choiceCases}
          ${valued.flatMap((o) => o.flags).join('|') || '__none__'}) return ;;
        esac
        COMPREPLY=($(compgen -W ${q(words.join(' ') + ' ' + globalFlags.join(' '))} -- "$cur")) ;;`;
    })
    .join('\n');
  return `# bash completion for berth: source <(berth completion bash)
_berth() {
  local cur prev path word i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  path=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ "$word" == -* ]] && continue
    case " $(_berth_children "$path") " in *" $word "*) path="\${path:+$path }$word" ;; esac
  done
  case "\${path:-_root}" in
${cases}
  esac
}
_berth_children() {
  case "\${1:-_root}" in
${all(root)
  .map((n) => `    ${q(n.path.join(' ') || '_root')}) echo ${q(n.children.map((c) => c.name).join(' '))} ;;`)
  .join('\n')}
  esac
}
complete -F _berth berth
`;
}

function zsh(root: Node): string {
  const fn = (n: Node): string => {
    const name = `_berth${n.path.map((p) => `_${p.replace(/-/g, '_')}`).join('')}`;
    const opts = n.options.map((o) => {
      const desc = o.description.replace(/[[\]':]/g, ' ').slice(0, 100);
      const value = o.takesValue ? (o.choices ? `:value:(${o.choices.join(' ')})` : ':value:') : '';
      return o.flags.length > 1 ? `'(${o.flags.join(' ')})'{${o.flags.join(',')}}'[${desc}]${value}'` : `'${o.flags[0]}[${desc}]${value}'`;
    });
    const subs = n.children.map((c) => `'${c.name}:${c.description.replace(/[':]/g, ' ').slice(0, 100)}'`);
    const body =
      n.children.length > 0
        ? `  local -a subcommands; subcommands=(${subs.join(' ')})
  _arguments -C ${opts.join(' ')} "--app[the running app NAME]:name:" '1: :->cmd' '*:: :->args'
  case $state in
    cmd) _describe 'command' subcommands ;;
    args) case $words[1] in
${n.children.map((c) => `      ${c.name}) _berth${[...c.path].map((p) => `_${p.replace(/-/g, '_')}`).join('')} ;;`).join('\n')}
    esac ;;
  esac`
        : `  _arguments ${opts.join(' ')} '*:file:_files'`;
    return `${name}() {\n${body}\n}\n${n.children.map(fn).join('')}`;
  };
  return `#compdef berth
# zsh completion for berth: berth completion zsh > "\${fpath[1]}/_berth"
${fn(root)}
compdef _berth berth
`;
}

function fish(root: Node): string {
  const lines = ['# fish completion for berth: berth completion fish > ~/.config/fish/completions/berth.fish', 'complete -c berth -f', "complete -c berth -l app -r -d 'the running app NAME'"];
  for (const n of all(root)) {
    const cond = n.path.length === 0 ? `__fish_use_subcommand` : `__fish_seen_subcommand_from ${n.path[n.path.length - 1]}`;
    for (const c of n.children) lines.push(`complete -c berth -n ${q(cond)} -a ${q(c.name)} -d ${q(c.description.slice(0, 80))}`);
    for (const o of n.options) {
      const parts = o.flags.map((f) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`)).join(' ');
      lines.push(`complete -c berth -n ${q(cond)} ${parts}${o.takesValue ? ' -r' : ''}${o.choices ? ` -a ${q(o.choices.join(' '))}` : ''} -d ${q(o.description.slice(0, 80))}`);
    }
  }
  return lines.join('\n') + '\n';
}

export function completion(shell: string, program: Command): void {
  if (!(SHELLS as readonly string[]).includes(shell)) throw errors.usage(`unknown shell "${shell}"`, `shells: ${SHELLS.join(', ')}`);
  const root = tree(program);
  root.options = root.options.filter((o) => !o.flags.includes('--app'));
  process.stdout.write(shell === 'bash' ? bash(root) : shell === 'zsh' ? zsh(root) : fish(root));
}
