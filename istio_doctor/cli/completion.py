"""``completion bash|zsh|fish``: a shell completion script on stdout.

The scripts are generated from the argparse tree, so a new flag is completed without anyone
remembering to edit a script. Target names (``pod/<TAB>``) come from ``kubectl get -o name``
at completion time, honouring ``-n`` and ``--context`` already typed; it is a read-only call in
the user's own shell.

  bash: source <(istio-doctor completion bash)
  zsh:  source <(istio-doctor completion zsh)
  fish: istio-doctor completion fish | source
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any

SHELLS = ("bash", "zsh", "fish")
TARGET_KINDS = ("pod/", "deploy/", "svc/", "ns/")
#: flags whose value is a file or a folder (the shell completes paths)
FILE_FLAGS = {"--record", "--replay", "--kubeconfig", "--file", "-f"}
DIR_FLAGS = {"--playbooks"}
NAMESPACE_FLAGS = {"-n", "--namespace", "--istio-namespace"}


#: what ``completion --help`` says: plain text for a terminal (the module docstring is reST)
HELP_TEXT = """\
Print a completion script for your shell. It completes commands, flags, flag values, symptoms,
playbook ids after 'playbooks show', and target names: pod/<TAB> lists pods with a read-only
'kubectl get pods -o name' in your own shell, honouring -n, --context and --kubeconfig already
typed.

  bash: source <(istio-doctor completion bash)     (in ~/.bashrc)
  zsh:  source <(istio-doctor completion zsh)      (in ~/.zshrc)
  fish: istio-doctor completion fish | source      (in ~/.config/fish/config.fish)
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh, fish)",
        description=HELP_TEXT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    p.set_defaults(handler=run)


#: sub-actions whose next word is a playbook id
PLAYBOOK_ID_ACTIONS = {("playbooks", "show")}


def _playbook_ids() -> list[str]:
    from istio_doctor.engine.playbook import load_playbooks

    return sorted(load_playbooks([]))


@dataclass
class Option:
    flags: list[str]
    takes_value: bool
    choices: list[str] = field(default_factory=list)
    help: str = ""


@dataclass
class Command:
    name: str
    help: str = ""
    options: list[Option] = field(default_factory=list)
    #: values of the first positional (sub-actions or fixed choices); empty for free text
    positionals: list[str] = field(default_factory=list)
    takes_target: bool = False
    #: sub-action -> the values of the word after it (``playbooks show <ID>``)
    action_values: dict[str, list[str]] = field(default_factory=dict)


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:  # type: ignore[type-arg]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _dynamic_choices(dest: str) -> list[str]:
    """Values argparse cannot list at parse time: the symptoms come from the loaded playbooks."""
    if dest != "symptom":
        return []
    from istio_doctor.engine.playbook import load_playbooks, symptoms_of

    return symptoms_of(load_playbooks())


def _options(parser: argparse.ArgumentParser) -> list[Option]:
    out = []
    for a in parser._actions:
        if not a.option_strings or a.help == argparse.SUPPRESS:
            continue
        out.append(
            Option(
                flags=list(a.option_strings),
                takes_value=a.nargs != 0,
                choices=[str(c) for c in a.choices] if a.choices else _dynamic_choices(a.dest),
                help=(a.help or "").split(" (")[0].replace("%(prog)s", "istio-doctor"),
            )
        )
    return out


def describe(parser: argparse.ArgumentParser) -> list[Command]:
    """Every command (aliases included) with its options, read from the parser, plus the
    playbook ids after ``playbooks show``, from the built-in playbooks (symptoms come from
    ``_dynamic_choices``)."""
    commands = _describe(parser)
    try:
        ids = _playbook_ids()
    except Exception:  # noqa: BLE001 - a broken installation still gets flag completion
        ids = []
    for c in commands:
        for cmd, action in PLAYBOOK_ID_ACTIONS:
            if c.name == cmd and action in c.positionals:
                c.action_values[action] = ids
    return commands


def _describe(parser: argparse.ArgumentParser) -> list[Command]:
    subs = _subparsers(parser)
    if subs is None:
        return []
    helps = {c.dest: c.help or "" for c in subs._choices_actions}
    commands = []
    for name, sp in subs.choices.items():
        cmd = Command(name=name, help=helps.get(name, ""), options=_options(sp))
        nested = _subparsers(sp)
        if nested is not None:
            cmd.positionals = list(nested.choices)
            seen = {tuple(o.flags) for o in cmd.options}
            for child in nested.choices.values():
                for o in _options(child):
                    if tuple(o.flags) not in seen:
                        seen.add(tuple(o.flags))
                        cmd.options.append(o)
        for a in sp._actions:
            if not a.option_strings and not isinstance(a, argparse._SubParsersAction):
                if a.choices:
                    cmd.positionals = [str(c) for c in a.choices]
                elif a.dest == "target":
                    cmd.takes_target = True
                break
        commands.append(cmd)
    return commands


def _full_parser() -> argparse.ArgumentParser:
    from istio_doctor.cli import build_parser

    return build_parser(with_proxy_config=True)


def _sh_words(words: list[str]) -> str:
    return " ".join(words)


def bash_script(commands: list[Command]) -> str:
    names = [c.name for c in commands]
    cases = []
    for c in commands:
        flags = [f for o in c.options for f in o.flags]
        value_cases = []
        for o in c.options:
            if not o.takes_value:
                continue
            pattern = "|".join(o.flags)
            if o.choices:
                value_cases.append(f'            {pattern}) COMPREPLY=($(compgen -W "{_sh_words(o.choices)}" -- "$cur")); return ;;')
            elif set(o.flags) & FILE_FLAGS:
                value_cases.append(f'            {pattern}) COMPREPLY=($(compgen -f -- "$cur")); return ;;')
            elif set(o.flags) & DIR_FLAGS:
                value_cases.append(f'            {pattern}) COMPREPLY=($(compgen -d -- "$cur")); return ;;')
            elif set(o.flags) & NAMESPACE_FLAGS:
                value_cases.append(f'            {pattern}) _istio_doctor_names ns/ "$cur"; COMPREPLY=("${{COMPREPLY[@]#ns/}}"); return ;;')
            elif "--pod" in o.flags:
                value_cases.append(f'            {pattern}) _istio_doctor_names pod/ "pod/$cur"; COMPREPLY=("${{COMPREPLY[@]#pod/}}"); return ;;')
            else:
                value_cases.append(f"            {pattern}) return ;;")
        if c.takes_target:
            positional = '_istio_doctor_target "$cur"'
        elif c.action_values:
            # the word after a sub-action (`playbooks show <TAB>`): that action's values
            branches = "\n".join(
                f'                {action}) COMPREPLY=($(compgen -W "{_sh_words(values)}" -- "$cur")); return ;;'
                for action, values in c.action_values.items()
            )
            done = [a for a in c.positionals if a not in c.action_values]
            if done:  # an action that takes no further word: nothing more to offer
                branches += f"\n                {'|'.join(done)}) return ;;"
            positional = (
                'local w\n'
                '            for w in "${COMP_WORDS[@]:2:COMP_CWORD-2}"; do\n'
                '                case "$w" in\n'
                f'{branches}\n'
                '                esac\n'
                '            done\n'
                f'            COMPREPLY=($(compgen -W "{_sh_words(c.positionals)}" -- "$cur"))'
            )
        elif c.positionals:
            positional = f'COMPREPLY=($(compgen -W "{_sh_words(c.positionals)}" -- "$cur"))'
        else:
            positional = ":"
        value_block = "\n".join(value_cases)
        cases.append(
            f"""        {c.name})
        case "$prev" in
{value_block}
        esac
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "{_sh_words(flags)}" -- "$cur"))
        else
            {positional}
        fi
        ;;"""
        )
    case_block = "\n".join(cases)
    return f"""# bash completion for istio-doctor. Load it with:
#   source <(istio-doctor completion bash)
# Target names are listed with read-only 'kubectl get -o name' calls.

_istio_doctor_kubectl_flags() {{
    # -n/--context/--kubeconfig already typed apply to the name lookup too
    local i w
    for ((i=1; i<COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        case "$w" in
            -n|--namespace|--context|--kubeconfig) printf '%s %s ' "$w" "${{COMP_WORDS[i+1]}}" ;;
        esac
    done
}}

_istio_doctor_names() {{
    # $1: kind prefix (pod/ deploy/ svc/ ns/), $2: the word being completed
    local kind="$1" cur="$2" resource
    case "$kind" in
        pod/) resource=pods ;;
        deploy/) resource=deployments ;;
        svc/) resource=services ;;
        ns/) resource=namespaces ;;
        *) return ;;
    esac
    local flags
    flags=$(_istio_doctor_kubectl_flags)
    [[ "$kind" == ns/ ]] && flags=$(printf '%s' "$flags" | sed -E 's/(^| )(-n|--namespace) [^ ]*//g')
    # shellcheck disable=SC2086
    COMPREPLY=($(compgen -W "$(kubectl get "$resource" $flags -o name 2>/dev/null | sed "s|^[^/]*/|$kind|")" -- "$cur"))
}}

_istio_doctor_target() {{
    local cur="$1"
    case "$cur" in
        */*) _istio_doctor_names "${{cur%%/*}}/" "$cur" ;;
        *)
            COMPREPLY=($(compgen -W "{_sh_words(list(TARGET_KINDS))}" -- "$cur"))
            # a kind is a prefix: do not end it with a space
            compopt -o nospace 2>/dev/null
            ;;
    esac
}}

_istio_doctor() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}"
    local prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local cmd="" i
    for ((i=1; i<COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            -*) ;;
            *) cmd="${{COMP_WORDS[i]}}"; break ;;
        esac
    done
    if [[ -z "$cmd" ]]; then
        COMPREPLY=($(compgen -W "{_sh_words(names)} --help --version" -- "$cur"))
        return
    fi
    case "$cmd" in
{case_block}
    esac
}}

complete -F _istio_doctor istio-doctor
complete -F _istio_doctor kubectl-istio_doctor
"""


def zsh_script(commands: list[Command]) -> str:
    # zsh runs the bash completion through bashcompinit: one implementation, two shells.
    return (
        "#compdef istio-doctor kubectl-istio_doctor\n"
        "# zsh completion for istio-doctor. Load it with:\n"
        "#   source <(istio-doctor completion zsh)\n"
        "autoload -U +X compinit && compinit\n"
        "autoload -U +X bashcompinit && bashcompinit\n\n"
        + bash_script(commands).split("\n", 3)[3]
    )


def _fish_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def fish_script(commands: list[Command]) -> str:
    names = " ".join(c.name for c in commands)
    lines = [
        "# fish completion for istio-doctor. Load it with:",
        "#   istio-doctor completion fish | source",
        "complete -c istio-doctor -f",
        "function __istio_doctor_names",
        "    # $argv[1]: kind prefix (pod/ deploy/ svc/ ns/); read-only kubectl lookup",
        "    set -l resource (switch $argv[1]; case pod/; echo pods; case deploy/; echo deployments;"
        " case svc/; echo services; case ns/; echo namespaces; end)",
        "    kubectl get $resource -o name 2>/dev/null | string replace -r '^[^/]*/' $argv[1]",
        "end",
        "function __istio_doctor_namespaces",
        "    __istio_doctor_names ns/ | string replace -r '^ns/' ''",
        "end",
        "function __istio_doctor_target",
        "    set -l cur (commandline -ct)",
        "    if string match -q '*/*' -- $cur",
        "        __istio_doctor_names (string replace -r '/.*' '/' -- $cur)",
        "    else",
        f"        printf '%s\\n' {' '.join(TARGET_KINDS)}",
        "    end",
        "end",
        "complete -c istio-doctor -l version -d 'print the version'",
    ]
    for c in commands:
        lines.append(f"complete -c istio-doctor -n '__fish_use_subcommand' -a {c.name} -d '{_fish_escape(c.help)}'")
        cond = f"__fish_seen_subcommand_from {c.name}"
        if c.takes_target:
            lines.append(f"complete -c istio-doctor -n '{cond}' -a '(__istio_doctor_target)'")
        elif c.positionals:
            actions = " ".join(c.positionals)
            lines.append(f"complete -c istio-doctor -n '{cond}; and not __fish_seen_subcommand_from {actions}' -a '{actions}'")
            for action, values in c.action_values.items():
                lines.append(f"complete -c istio-doctor -n '{cond}; and __fish_seen_subcommand_from {action}' "
                             f"-a '{' '.join(values)}'")
        for o in c.options:
            parts = [f"complete -c istio-doctor -n '{cond}'"]
            for flag in o.flags:
                parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
            if o.takes_value:
                parts.append("-r")
                if o.choices:
                    parts.append(f"-a '{' '.join(o.choices)}'")
                elif set(o.flags) & (FILE_FLAGS | DIR_FLAGS):
                    parts.append("-F")
                elif set(o.flags) & NAMESPACE_FLAGS:
                    parts.append("-a '(__istio_doctor_namespaces)'")
            if o.help:
                parts.append(f"-d '{_fish_escape(o.help)}'")
            lines.append(" ".join(parts))
    lines.append(f"# subcommands: {names}")
    return "\n".join(lines) + "\n"


def script_for(shell: str) -> str:
    commands = describe(_full_parser())
    if shell == "bash":
        return bash_script(commands)
    if shell == "zsh":
        return zsh_script(commands)
    if shell == "fish":
        return fish_script(commands)
    raise ValueError(f"unknown shell {shell!r}")


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(script_for(args.shell))
    return 0
