^XA
^CI28
^PW812
^LL406
^FO20,14^A0N,40,36^FH^FD{{priority}} to {{destination max=12}}^FS
^FO20,60^A0N,30,28^FH^FDneeded by {{needed_by max=20}}^FS
^FO20,98^A0N,30,28^FH^FD{{name max=24}}  MRN {{mrn_grouped}}^FS
^FO20,136^A0N,26,24^FH^FDvolume {{volume_barcode}}^FS
^FO20,180{{symbol module=3 height=150}}
^XZ
