^XA
^CI28
^PW406
^LL203
^FO16,8^A0N,22,20^FH^FD{{priority}} to {{destination max=12}}^FS
^FO16,32^A0N,20,18^FH^FDby {{needed_by max=20}}^FS
^FO16,54^A0N,20,18^FH^FD{{name max=18}}  {{mrn_grouped}}^FS
^FO16,80{{symbol module=2 height=60}}
^XZ
