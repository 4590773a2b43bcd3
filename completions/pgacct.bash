# bash completion for pgacct: its commands and options, and the envs, dbs,
# clusters and labels of your registry and the account types of config.toml
# (pgacct is asked on each TAB). Generated: `COMPLETE=bash pgacct` prints it.
#
# Install: copy to ~/.local/share/bash-completion/completions/pgacct, or
# source it from ~/.bashrc.
_pgacct() {
    # Bash splits the line at COMP_WORDBREAKS too (= and : among them), so
    # `--where team=co` arrives as team, =, co: glue the pieces no blank
    # separates back into the words pgacct sees.
    local words=() index=0 at=0 i piece start glued
    for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
        piece=${COMP_WORDS[i]}
        start=$at
        while [[ ${COMP_LINE:start:1} == [[:space:]] ]]; do start=$((start + 1)); done
        glued=$((i > 0 && start == at))
        at=$((start + ${#piece}))
        if ((i == COMP_CWORD)); then
            # The word under the cursor counts up to the cursor.
            if ((COMP_POINT >= start)); then
                piece=${COMP_LINE:start:COMP_POINT-start}
            else
                piece= glued=0 at=$COMP_POINT
            fi
        elif ((i > COMP_CWORD && glued && index == ${#words[@]} - 1)); then
            continue # the rest of the word under the cursor
        fi
        if ((glued)); then
            words[${#words[@]} - 1]+=$piece
        else
            words+=("$piece")
        fi
        ((i == COMP_CWORD)) && index=$((${#words[@]} - 1))
    done

    # Bash replaces only the last piece ($2); candidates are whole words.
    local keep=${words[index]%"$2"} out line
    out=$(_PGACCT_INDEX=$index COMPLETE=bash pgacct -- "${words[@]}" 2>/dev/null) || return 0
    COMPREPLY=()
    # No space after `team=` or a directory. (Regular expressions: a glob
    # like *[=/]* takes bash milliseconds on thousands of lines.)
    [[ $out =~ [=/]($|$'\n') ]] && compopt -o nospace 2>/dev/null
    local plain=$'^[-A-Za-z0-9_./:=@%+,\n]*$'
    if [[ -z $keep && $out =~ $plain ]]; then
        # Whole words that need no quoting: split at once, fast for thousands.
        local IFS=$'\n' noglob=$-
        set -f
        COMPREPLY=($out)
        [[ $noglob == *f* ]] || set +f
        return 0
    fi
    while IFS= read -r line; do
        [[ -n $line && $line == "$keep"* ]] || continue
        line=${line#"$keep"}
        [[ $line == *[!A-Za-z0-9_./:=@%+,-]* ]] && printf -v line '%q' "$line"
        COMPREPLY+=("$line")
    done <<<"$out"
    return 0
}
if [[ ${BASH_VERSINFO[0]} -eq 4 && ${BASH_VERSINFO[1]} -ge 4 || ${BASH_VERSINFO[0]} -gt 4 ]]; then
    complete -o nosort -F _pgacct pgacct
else
    complete -F _pgacct pgacct
fi
