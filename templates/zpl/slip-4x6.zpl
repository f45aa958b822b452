^XA
^CI28
^PW812
^LL1218
^FO30,30^A0N,60,54^FH^FD{{priority}} to {{destination max=12}}^FS
^FO30,110^A0N,40,36^FH^FDneeded by {{needed_by max=20}}^FS
^FO30,170^A0N,40,36^FH^FD{{name max=24}}^FS
^FO30,230^A0N,40,36^FH^FDMRN {{mrn_grouped}}   volume {{volume_barcode}}^FS
^FO30,330{{symbol module=4 height=260}}
^XZ
