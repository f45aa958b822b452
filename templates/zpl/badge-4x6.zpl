^XA
^CI28
^PW812
^LL1218
^FO20,12^A0N,90,90^FH^FD{{user max=26}}^FS
^FO20,106^A0N,48,48^FH^FD{{role}}^FS
^FO20,268{{symbol module=4 height=252}}
^XZ
