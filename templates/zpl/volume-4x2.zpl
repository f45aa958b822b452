^XA
^CI28
^PW812
^LL406
^FO30,20^A0N,44,40^FH^FD{{name max=24}}^FS
^FO30,72^A0N,30,28^FH^FDMRN {{mrn_grouped}}   DOB {{birth_date}}^FS
^FO30,108^A0N,30,28^FH^FD{{record_type max=14}} volume {{volume}}   home {{home}}^FS
^FO30,160{{symbol module=3 height=160}}
^FO640,20^GB150,110,110^FS
^FO655,32^A0N,90,66^FR^FH^FD{{tens_digit}}{{units_digit}}^FS
^XZ
