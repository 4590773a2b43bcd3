complete --keep-order --exclusive --command pgacct --arguments "(COMPLETE=fish pgacct -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
