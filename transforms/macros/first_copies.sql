{#
    The first copy of each key, as row_number() over (partition by key order by ...) = 1 would
    give, without sorting every row: copies are rare, so only the keys seen more than once are
    ranked. Rows of a null key are ranked together, as the window would. Every row keeps a
    copy_rank column (1) for the caller's final select to leave out.

    copied_keys, when given, is a relation whose column `key` lists the keys that may have
    copies (any superset of them is correct: a key with one row ranks it first); without it,
    the keys are counted from relation itself.
#}
{% macro first_copies(relation, key, order_by, copied_keys=none) -%}
    {%- set copied -%}
        {%- if copied_keys is none -%}
        select {{ key }} from {{ relation }}
        where {{ key }} is not null
        group by {{ key }}
        having count(*) > 1
        {%- else -%}
        select {{ key }} from {{ copied_keys }}
        where {{ key }} is not null
        {%- endif -%}
    {%- endset -%}
    select
        *,
        1 as copy_rank

    from {{ relation }}
    where {{ key }} is not null and {{ key }} not in (
        {{ copied }}
    )

    union all

    select * from (
        select
            *,
            row_number() over (
                partition by {{ key }}
                order by {{ order_by }}
            ) as copy_rank

        from {{ relation }}
        where {{ key }} is null or {{ key }} in (
            {{ copied }}
        )
    ) as copies
    where copy_rank = 1
{%- endmacro %}

