{#
    The first copy of each key, as row_number() over (partition by key order by ...) = 1 would
    give, without sorting every row: copies are rare, so only the keys seen more than once are
    ranked. Rows of a null key are ranked together, as the window would. Every row keeps a
    copy_rank column (1) for the caller's final select to leave out.
#}
{% macro first_copies(relation, key, order_by) -%}
    select
        *,
        1 as copy_rank

    from {{ relation }}
    where {{ key }} is not null and {{ key }} not in (
        select {{ key }} from {{ relation }}
        where {{ key }} is not null
        group by {{ key }}
        having count(*) > 1
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
            select {{ key }} from {{ relation }}
            group by {{ key }}
            having count(*) > 1
        )
    ) as copies
    where copy_rank = 1
{%- endmacro %}

