# Unknown names in a nuketown attrset, found with builtins only: the offline
# counterpart of the NixOS module system's "The option ... does not exist".
# Names are described in the notation of ./upstream-options.nix.
let
  inherit (builtins)
    attrNames
    concatLists
    elemAt
    foldl'
    genList
    head
    isAttrs
    isFunction
    isList
    length
    stringLength
    substring
    ;

  min = a: b: if a < b then a else b;
  chars = s: genList (i: substring i 1 s) (stringLength s);
  from1 = n: genList (k: k + 1) n;

  # Edit distance where inserting, deleting or changing a character, or
  # swapping two neighbours, costs 1 ("optimal string alignment").
  distance =
    a: b:
    let
      x = chars a;
      y = chars b;
      m = length y;
      # Row i of the table, from rows i-1 (prev) and i-2 (prev2).
      row =
        i: prev: prev2:
        foldl' (
          cur: j:
          let
            xi = elemAt x (i - 1);
            yj = elemAt y (j - 1);
            best = min (min (elemAt prev j + 1) (elemAt cur (j - 1) + 1)) (
              elemAt prev (j - 1) + (if xi == yj then 0 else 1)
            );
            swapped =
              i > 1 && j > 1 && xi == elemAt y (j - 2) && elemAt x (i - 2) == yj;
          in
          cur ++ [ (if swapped then min best (elemAt prev2 (j - 2) + 1) else best) ]
        ) [ i ] (from1 m);
      last = foldl' (rows: i: {
        prev = row i rows.prev rows.prev2;
        prev2 = rows.prev;
      }) { prev = genList (j: j) (m + 1); prev2 = [ ]; } (from1 (length x));
    in
    elemAt last.prev m;

  # The closest known name, when it is close enough to be what was meant.
  suggestion =
    name: known:
    let
      closest = foldl' (
        found: candidate:
        let d = distance name candidate; in
        if found == null || d < found.d then { inherit candidate d; } else found
      ) null known;
    in
    if closest != null && closest.d <= 1 + stringLength name / 4 then closest.candidate else null;

  unknownMessage =
    path: name: known:
    let hint = suggestion name known; in
    "${path}.${name}: no such option; "
    + (
      if hint != null then "did you mean `${hint}`?"
      else "the options here are ${builtins.concatStringsSep ", " known}"
    );

  # Messages for every name in `value` that `names` does not allow. A function
  # where a list is expected (a fleet default given per agent) is called with
  # each agent name and its result checked.
  unknownIn =
    agentNames: path: names: value:
    let recurse = unknownIn agentNames; in
    if names == true then
      [ ]
    else if isList names then
      if isFunction value || (isAttrs value && value ? __functor) then
        concatLists (map (n: recurse "${path}(\"${n}\")" names (value n)) agentNames)
      else if isList value then
        concatLists (genList (i: recurse "${path}[${toString i}]" (head names) (elemAt value i)) (length value))
      else
        [ ]
    else if !isAttrs value then
      [ ]
    else if names ? "<name>" then
      concatLists (map (n: recurse "${path}.${n}" names."<name>" value.${n}) (attrNames value))
    else
      concatLists (
        map (
          n: if names ? ${n} then recurse "${path}.${n}" names.${n} value.${n} else [ (unknownMessage path n (attrNames names)) ]
        ) (attrNames value)
      );

  # Unknown names in a nuketown attrset, as "nuketown.a.b: ..." messages.
  unknownOptions =
    names: nuketown:
    let
      agents = nuketown.agents or { };
      agentNames = if isAttrs agents then attrNames agents else [ ];
    in
    unknownIn agentNames "nuketown" names nuketown;
in
{
  inherit distance suggestion unknownOptions;
}
